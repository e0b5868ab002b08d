"""Domain adapters: vocabularies the server lowers to native scenarios (``ai_safety``)."""
