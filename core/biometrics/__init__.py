"""Face, voice, spoken-challenge, quality and fusion: one implementation for trainer and gateway."""
