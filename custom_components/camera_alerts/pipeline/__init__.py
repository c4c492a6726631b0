"""Camera processing without Home Assistant: frame sources, motion gate, tracker, zones, processor."""
