// Translation unit that carries the shared LibTorch precompiled headers (zt_pch_torch).
