"""Sales-enablement chat bot: the frame (settings, storage, messages, routing, channels) around handlers/."""
