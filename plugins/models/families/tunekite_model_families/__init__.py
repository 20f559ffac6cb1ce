"""ms-swift model types for TuneKite (see `tunekite_model_families.plugin`)."""
