# The leadscore worker image used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scoring ./scoring
COPY streams ./streams
RUN pip install --no-cache-dir .
ENV LEADSCORE_WEB_HOST=0.0.0.0
EXPOSE 6066
CMD ["leadscore", "worker"]
