"""Label models: votes in, a posterior per row out; pseudolabels; synthetic label matrices."""
