"""The image pipeline: image datasets, concepts, CLIP features, the stages and the report."""
