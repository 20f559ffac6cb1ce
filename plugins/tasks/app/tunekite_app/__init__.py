"""`tk run app`: a Gradio chat page over a TuneKite engine or an OpenAI-compatible server."""
