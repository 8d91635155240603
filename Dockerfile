# The zk-tools container image: the one static zk-tools executable and a link
# per tool name, CA certificates and an unprivileged user in an otherwise
# empty (scratch) image.
#
#   docker build -t zk-tools .
#   docker run --rm zk-tools zk-ensemble --zk zk1:2181 check
#
# The build stage runs scripts/release.sh, which assembles the image's whole
# file system in dist/rootfs; the final stage copies exactly that. So the
# image's content can be built and tested without a Docker daemon:
# scripts/test-install.sh runs the binaries chrooted in dist/rootfs, and
# builds this file's final stage from dist/ with buildah and runs the tools
# in it (the build stage's rust image cannot be fetched where it runs).

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/release.sh --no-deb

FROM scratch
COPY --from=build /src/dist/rootfs/ /
ENV PATH=/usr/local/bin
USER 65534:65534
CMD ["zk-ensemble", "--help"]
