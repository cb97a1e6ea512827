// Translation unit that carries the shared precompiled headers of torch-free targets.
