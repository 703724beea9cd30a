"""Login terminals: a small SDK (upload media, emit attempts and feedback) and a simulator."""
