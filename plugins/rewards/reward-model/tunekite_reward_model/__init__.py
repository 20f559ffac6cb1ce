"""The `reward_model` reward: scores prompt + completion with a sequence-classification
model, e.g. one trained by `tk run rlhf --rlhf_type rm`."""
