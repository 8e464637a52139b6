# Slim image, non-root, dependencies pinned by constraints.txt.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY auth ./auth
COPY storage ./storage
COPY realtime ./realtime
COPY web-demo ./web-demo
# Editable, so that the app finds web-demo/ beside its packages in /app.
RUN pip install -c constraints.txt -e . \
    && useradd --system --uid 10001 tandem
USER tandem
EXPOSE 8000
CMD ["tandem", "serve", "--host", "0.0.0.0", "--port", "8000"]
