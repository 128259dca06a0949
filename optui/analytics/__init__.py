"""Pure analytics: arrays in, arrays or small structs out. Never imports Textual."""
