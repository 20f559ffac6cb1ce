"""The self-cognition dataset: teaches a fine-tuned model its own name and author."""
