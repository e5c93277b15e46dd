"""Students distilled from pseudolabels: features, the students, their training and choice."""
