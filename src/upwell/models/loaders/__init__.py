"""One loader per model format; each imports its library only when used."""
