"""The news pipeline: fetch, parse, clean, dedupe, summarise, match topics, render (pure stages + one sequencer)."""
