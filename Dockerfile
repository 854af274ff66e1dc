# The control plane: `docker build -t arrakis .` then
#   docker run -p 8080:8080 -e ARRAKIS_ADMIN_KEY=... -v arrakis-data:/app/data arrakis serve --comfyui http://comfyui:8188
# Sources run through tsx as in a checkout (no build step); dev dependencies (test tools, embedded Postgres) stay out.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    ARRAKIS_HOST=0.0.0.0 \
    ARRAKIS_PORT=8080
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY src ./src
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8080
VOLUME ["/app/data"]
ENTRYPOINT ["node", "bin/arrakis.mjs"]
CMD ["serve"]
