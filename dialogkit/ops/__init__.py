"""Pure functions on canonical records: chat coercion, pairs, merge, split, dedup."""
