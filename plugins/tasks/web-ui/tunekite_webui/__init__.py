"""`tk run web-ui`: a Gradio page to train, watch, chat with and export models."""
