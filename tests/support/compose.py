"""A three-service compose application for the compose tests: an API that is healthy
only after start-up and writes into a shared named volume, a web server on a published
port (``$PORT``) that starts once the API is healthy, and a worker that fetches from it;
two networks."""

APP = """\
services:
  api:
    image: busybox
    command: sh -c 'sleep 1; echo api > /data/api.txt; touch /tmp/ready; exec sleep 600'
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 50
    volumes: [shared:/data]
    networks: [back]
    init: true
  web:
    image: busybox
    command: >-
      sh -c 'mkdir -p /www && cat /data/api.txt > /www/index.html
      && exec httpd -f -p 80 -h /www'
    init: true
    ports: ["127.0.0.1:${PORT}:80"]
    depends_on:
      api:
        condition: service_healthy
    volumes: [shared:/data:ro]
    networks: [front, back]
  worker:
    image: busybox
    command: sh -c 'while true; do wget -q -O- http://web/ > /tmp/last; sleep 1; done'
    depends_on: [web]
    networks: [front]
    stop_grace_period: 1s
volumes:
  shared: {}
networks:
  front: {}
  back: {}
"""
