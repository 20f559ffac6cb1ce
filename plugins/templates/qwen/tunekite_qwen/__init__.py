"""Qwen chat templates for TuneKite (ChatML with Qwen's default systems, Qwen3 thinking tags)."""
