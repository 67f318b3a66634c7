# The platform's own image: pratai-server, pratai-api, pratai-runner and pratai-manage in one; the
# command chooses the process (default: pratai-server, everything in one process).
#
#   npm ci                  # installs the packages and builds dist/ (or: npm run build)
#   docker build -t pratai/platform .
#   docker run ... pratai/platform pratai-api          # or pratai-runner, pratai-manage db-sync
#
# The build copies the checkout's built JavaScript (dist/) and its installed node_modules, keeping
# only the production packages: it needs no network. The native modules in node_modules
# (better-sqlite3) are the ones built by `npm ci`, so build on linux-x64 with Node 20 and glibc no
# newer than Debian bookworm's. docs/deployment.md walks through it.
#
# BASE: a Debian bookworm image with Node 20 and npm. The public node:20-bookworm-slim, or, where
# no registry can be reached, a local stand-in made by deploy/make-local-base.sh.
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS modules
# Lets a build find this stage's image afterwards (--build-arg BUILD_ID=...): test/image.test.ts
# removes everything its build made.
ARG BUILD_ID=
LABEL pratai.build-id=${BUILD_ID}
WORKDIR /opt/pratai
COPY package.json package-lock.json ./
COPY node_modules/ node_modules/
# Offline: prune only removes what the lockfile marks as development packages (TypeScript, ESLint...).
RUN npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error

FROM ${BASE}
LABEL org.opencontainers.image.title="Pratai" \
      org.opencontainers.image.description="Asynchronous functions for OpenStack clouds: API, runner and management commands" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /opt/pratai
COPY --from=modules /opt/pratai/node_modules/ node_modules/
COPY package.json package-lock.json ./
COPY etc/ etc/
COPY dist/ dist/
# Each executable of package.json's "bin" on the PATH; a user of its own; the state folder it owns
# (mount a volume there for pratai-server's embedded database and queue).
RUN node -e 'const fs = require("fs"); for (const [name, path] of Object.entries(require("./package.json").bin)) if (fs.existsSync(path)) { fs.chmodSync(path, 0o755); fs.symlinkSync(`/opt/pratai/${path}`, `/usr/local/bin/${name}`); }' \
    && useradd --uid 10001 --user-group --home-dir /var/lib/pratai --no-create-home --shell /usr/sbin/nologin pratai \
    && mkdir -p /var/lib/pratai /etc/pratai \
    && chown pratai:pratai /var/lib/pratai
# A runner (pratai-server, pratai-runner) also needs the Docker socket: mount it and add its group
# (docker run --group-add $(stat -c %g /var/run/docker.sock) -v /var/run/docker.sock:/var/run/docker.sock).
USER pratai
EXPOSE 9998 9898
CMD ["pratai-server"]
