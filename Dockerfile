# syntax=docker/dockerfile:1
# Build: docker build -t basewatch .
# SQLite and libpq are compiled into the binary (bundled), so the runtime image
# needs no database client libraries.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that editing the code does not rebuild them (the stub
# binary itself fails to link against the empty library; only the cache matters).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin basewatch || true
COPY src src
COPY migrations migrations
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin basewatch

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/basewatch --create-home basewatch
COPY --from=build /src/target/release/basewatch /usr/local/bin/basewatch
USER basewatch
WORKDIR /var/lib/basewatch
ENV BASEWATCH_BIND=0.0.0.0:8080 \
    BASEWATCH_DATA_DIR=/var/lib/basewatch
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/ready || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["basewatch"]
CMD ["serve"]
