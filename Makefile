# skiff — set-up, demo, tests and benchmarks. Run as root on Debian 12.
SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COMPOSE_VENV := $(CURDIR)/.venv-compose
COMPOSE := $(COMPOSE_VENV)/bin/docker-compose
DEMO := $(CURDIR)/demo
DEMO_PORT ?= 8080

# Debian packages skiff needs (runtime, peers used as test oracles, benchmark tools).
DEB_PACKAGES := python3-venv busybox-static libseccomp2 iproute2 iptables procps psmisc \
	containernetworking-plugins aardvark-dns \
	runc crun conmon catatonit podman docker.io hyperfine skopeo umoci tini zsh fish time \
	docker-registry apache2-utils openssl iperf3 \
	qemu-system-x86 linux-image-cloud-amd64 e2fsprogs gcc libc6-dev systemd

.PHONY: setup deb venv install demo test lint typecheck unit integration interop bench bench-cri soak clean

setup: deb install

deb:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# kubectl drives skiff cri's streaming server in tests: Debian's kubernetes-client,
	@# unless a kubectl is installed already (another package's would conflict with it)
	@command -v kubectl >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python

# The launchers of skiff-runtime and skiff replace pip's: Python without site (-IS) and
# without the `import re` of pip's template, because start-up time is measured against
# runc's and docker's (docs/runtime.md, docs/benchmarks.md); skiff finds its libraries in
# the venv's site-packages. Byte code is compiled up front for the same reason.
install: venv
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m skiff.cri.generate  # the CRI stubs (skiff/cri/proto, not in git)
	printf '#!%s -IS\nimport sys\nsys.path.insert(0, "%s")\nfrom skiff.runtime.cli import entry\nentry()\n' \
		"$(BIN)/python" "$(CURDIR)" > $(BIN)/skiff-runtime
	printf '#!%s -IS\nimport sys\nsys.path.insert(0, "%s")\nfrom skiff.vm.cli import entry\nentry()\n' \
		"$(BIN)/python" "$(CURDIR)" > $(BIN)/skiff-vm
	printf '#!%s -IS\nimport sys\nsys.path[:0] = ["%s", "%s"]\nfrom skiff.cli.main import entry\nentry()\n' \
		"$(BIN)/python" "$(CURDIR)" "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" > $(BIN)/skiff
	$(BIN)/python -m compileall -q skiff
	ln -sf $(BIN)/skiff /usr/local/bin/skiff
	ln -sf $(BIN)/skiff-runtime /usr/local/bin/skiff-runtime
	ln -sf $(BIN)/skiff-vm /usr/local/bin/skiff-vm
	getent group skiff >/dev/null || groupadd --system skiff  # who may use skiff serve's socket
	install -D -m 644 skiff/data/skiff-cri.service /usr/local/lib/systemd/system/skiff-cri.service

demo: setup
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/python -m skiff.runtime.demo $(DEMO)/bundle
	cd $(DEMO)/bundle && skiff-runtime --root $(DEMO)/state run demo-$$$$
	tar -C $(DEMO)/bundle/rootfs -cf $(DEMO)/busybox.tar .
	skiff import --change 'CMD ["sh"]' --message "busybox-static from Debian" $(DEMO)/busybox.tar busybox:latest
	@skiff image prune -f >/dev/null
	skiff images
	skiff run --rm busybox echo "hello from a skiff container"
	@skiff rm -f demo-web >/dev/null 2>&1 || true
	@skiff network rm demo-net >/dev/null 2>&1 || true
	skiff network create demo-net
	skiff run -d --name demo-web --network demo-net -p 127.0.0.1:$(DEMO_PORT):80 busybox \
		sh -c 'echo "served by busybox httpd in a skiff container" > /tmp/index.html && exec httpd -f -p 80 -h /tmp'
	skiff run --rm --network demo-net busybox wget -q -O - http://demo-web/
	@sleep 0.2; /bin/busybox wget -q -O - http://127.0.0.1:$(DEMO_PORT)/
	@echo "demo-web keeps running (network demo-net, port $(DEMO_PORT) on 127.0.0.1);" \
		"remove both with: skiff rm -f demo-web && skiff network rm demo-net"

lint: install
	$(BIN)/ruff check skiff tests bench
	$(BIN)/ruff format --check skiff tests bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q tests/unit

test: setup lint typecheck $(COMPOSE)
	$(BIN)/pytest -q tests

# docker-compose 1.29.2 (PyPI), an API client of its own for the interop tests. Its
# PyYAML 5.4.1 has no wheel for Python 3.11 and does not build with Cython 3; it needs
# docker-py 6 (7 dropped an argument it passes), which needs requests < 2.32.
$(COMPOSE):
	$(PYTHON) -m venv $(COMPOSE_VENV)
	$(COMPOSE_VENV)/bin/pip install -q "cython<3" wheel setuptools
	$(COMPOSE_VENV)/bin/pip install -q --no-build-isolation "PyYAML==5.4.1"
	$(COMPOSE_VENV)/bin/pip install -q docker-compose==1.29.2 "docker<7" "requests<2.32" "urllib3<2"

bench: setup
	$(BIN)/python -m bench $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(RUNS),--runs $(RUNS))

# Create/start/exec/stop/rm cycles through the CLI and skiff serve for MINUTES (default 10):
# every operation must succeed and no fd, memory, mount, cgroup or link count may grow
# (bench/soak.py). Not part of `make bench`; its report goes to bench/results/soak/.
# RunPodSandbox + CreateContainer + StartContainer of a busybox pod over the CRI: skiff cri
# beside containerd 1.6's CRI plugin (bench/cri_pod.py). Report in bench/results/cri/.
bench-cri: setup
	$(BIN)/python -m bench.cri_pod $(if $(RUNS),--runs $(RUNS))

soak: setup
	$(BIN)/python -m bench soak $(if $(MINUTES),--minutes $(MINUTES))

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
