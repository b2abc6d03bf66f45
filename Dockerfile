# The portsim image: a static binary on a distroless base, no compiler, no
# shell, run as a non-root user. Build it from the repository root with
#   docker build -t portsim:local .
# and run it as, for example,
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/out:/out" \
#     portsim:local bench linux-2022 -o /out/linux-2022

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/portsim ./cmd/portsim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portsim /usr/local/bin/portsim
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/portsim"]
