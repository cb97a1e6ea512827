// Translation unit that carries the shared gRPC/Protobuf precompiled headers (zt_pch_grpc).
