"""Program generators: interchangeable sources of labeling programs.

``library`` reuses stored or hand-written programs, ``offline`` synthesizes programs with no
LLM, ``openai`` asks any OpenAI-compatible endpoint to write them. Each implements
:class:`alchemist_core.generators.base.ProgramGenerator`.
"""

from alchemist_core.generators.base import (
    GenerationContext,
    GenerationResult,
    ProgramGenerator,
    RejectedProgram,
)

__all__ = ["GenerationContext", "GenerationResult", "ProgramGenerator", "RejectedProgram"]
