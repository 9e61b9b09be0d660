"""The edge: the widget's HTTP/SSE front door, transcoding to the coordinator's gRPC API."""
