# The vfleet image: the vfleet binary (hub, agent, control plane) and the
# Kubernetes binaries control planes run, built from the sources pinned in
# hack/tools. The agent's kubernetes runtime runs control planes from it:
#   vfleet agent --runtime=kubernetes --control-plane-image=IMAGE --bin-root=/opt/vfleet/k8s
# Build:  docker build -t vfleet/vfleet:dev .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY hack/tools/go.mod hack/tools/go.sum hack/tools/
RUN go mod download && cd hack/tools && go mod download
COPY . .
# Pure Go throughout (kine's SQLite included), so the result runs on a
# static base image.
RUN CGO_ENABLED=0 make build binaries
# A control plane needs only the apiserver and the controller-manager.
RUN for d in bin/k8s/*/; do v=$(basename "$d"); mkdir -p "/out/k8s/$v"; \
      cp "$d/kube-apiserver" "$d/kube-controller-manager" "/out/k8s/$v/"; done

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/vfleet /usr/local/bin/vfleet
COPY --from=build /out/k8s/ /opt/vfleet/k8s/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/vfleet"]
