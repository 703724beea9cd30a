"""KibaLock: verifies voice + face login attempts against enrolled templates and decides."""
