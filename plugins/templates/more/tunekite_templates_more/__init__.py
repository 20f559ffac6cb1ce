"""Chat-template families without a plugin of their own (see `tunekite_templates_more.plugin`)."""
