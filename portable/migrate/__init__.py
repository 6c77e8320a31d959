"""Moving a running app between targets with its data: volume archives, cutover, way back."""
