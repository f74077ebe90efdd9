.PHONY: setup up test lint bench protos
setup:
	bash ci/setup
up:
	bash ci/up
test:
	bash ci/test
lint:
	bash ci/lint
bench:
	bash ci/bench
protos:
	bash ci/gen-protos
