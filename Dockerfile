# The Docker equivalent of `make images`, for users who build with Docker.
# `make images` (go-containerregistry, no daemon) is the reference build: its
# images are reproducible, one digest per commit, and a Go test checks them
# (internal/imagebuild). This file builds the same content — the static
# binary at /usr/local/bin/NAME as the entrypoint, Debian's CA bundle at
# /etc/ssl/certs/ca-certificates.crt, the nonroot user 65532:65532, /tmp, the
# OCI labels — but not the same digest (Docker stamps its own times).
# It was written where no Docker daemon runs and has not been run; keep it in
# step with internal/ociimage when that changes.
#
#   docker build --target voiceassist-server -t voiceassist/voiceassist-server:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   (targets: voiceassist-server, voiceassist-worker, queue-exporter, vactl)
#
# The images have no shell and no package manager, nothing to exec into —
# which is why every probe in k8s/performance is httpGet or tcpSocket.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# One build for the four: static (no cgo, so no libc needed), no paths of the
# build machine, symbol tables stripped.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ \
      ./cmd/voiceassist-server ./cmd/voiceassist-worker ./cmd/queue-exporter ./cmd/vactl
# The base layer of make images: the CA bundle of Debian's ca-certificates
# (installed in the golang image), /etc/passwd and /etc/group naming the
# nonroot user, a sticky /tmp.
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/rootfs/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' >/rootfs/etc/group \
 && chmod 1777 /rootfs/tmp \
 && mkdir -p /home-nonroot && chmod 700 /home-nonroot

FROM scratch AS base
COPY --from=build /rootfs/ /
COPY --from=build --chown=65532:65532 /home-nonroot /home/nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.source=https://github.com/voiceassist/autoscaling \
      org.opencontainers.image.revision=$REVISION \
      org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.licenses=Apache-2.0
ENV PATH=/usr/local/bin:/usr/bin:/bin
WORKDIR /
USER 65532:65532

FROM base AS voiceassist-server
LABEL org.opencontainers.image.title=voiceassist-server
COPY --from=build /out/voiceassist-server /usr/local/bin/voiceassist-server
ENTRYPOINT ["/usr/local/bin/voiceassist-server"]

FROM base AS voiceassist-worker
LABEL org.opencontainers.image.title=voiceassist-worker
COPY --from=build /out/voiceassist-worker /usr/local/bin/voiceassist-worker
ENTRYPOINT ["/usr/local/bin/voiceassist-worker"]

FROM base AS queue-exporter
LABEL org.opencontainers.image.title=queue-exporter
COPY --from=build /out/queue-exporter /usr/local/bin/queue-exporter
ENTRYPOINT ["/usr/local/bin/queue-exporter"]

FROM base AS vactl
LABEL org.opencontainers.image.title=vactl
COPY --from=build /out/vactl /usr/local/bin/vactl
ENTRYPOINT ["/usr/local/bin/vactl"]
