# One Dockerfile for the three VoiceAssist images:
#   docker build --build-arg CMD=voiceassist-server -t voiceassist/voiceassist-server:0.1.0 .
#   docker build --build-arg CMD=voiceassist-worker -t voiceassist/voiceassist-worker:0.1.0 .
#   docker build --build-arg CMD=queue-exporter     -t voiceassist/queue-exporter:0.1.0 .
# The binaries are static (CGO off, pure-Go dependencies), so the final image
# is empty but for the binary: no shell, no package manager, nothing to exec
# into — which is why every probe in k8s/performance is httpGet or tcpSocket.
FROM golang:1.26-bookworm AS build
ARG CMD
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN test -n "$CMD" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/app ./cmd/$CMD

# scratch plus a numeric non-root user is the distroless "static:nonroot"
# layout without the CA bundle and tzdata, which these services do not use
# (they talk to Redis and PostgreSQL inside the cluster, in UTC).
FROM scratch
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
