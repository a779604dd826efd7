# Two commands matter: `make run` (set up, then run the bot, or its try-out mode with no token)
# and `make test` (set up, lint, then run the whole suite on SQLite and, when a server answers, PostgreSQL).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: run test lint test-sqlite test-postgres setup catalogues extract

# Each language's catalogue (messages/locale/<code>/LC_MESSAGES/messages.po), compiled for the bot.
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard messages/locale/*/LC_MESSAGES/messages.po))

setup: $(VENV)/.installed $(CATALOGUES)

catalogues: $(CATALOGUES)

$(CATALOGUES): %.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

# After changing a template's words: the catalogue template, then every language's catalogue.
extract: $(VENV)/.installed
	$(BIN)/pybabel extract --mapping-file messages/babel.cfg --sort-by-file --add-location file \
		--project campaign-bot --no-wrap --output-file messages/locale/messages.pot .
	$(BIN)/pybabel update --input-file messages/locale/messages.pot --output-dir messages/locale \
		--domain messages --no-fuzzy-matching --no-wrap --ignore-obsolete

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: setup
	$(BIN)/campaign-bot run

test: lint test-sqlite test-postgres

lint: setup
	@echo "== lint (ruff, settings in pyproject.toml) =="
	$(BIN)/ruff check .

test-sqlite: setup
	@echo "== test suite on SQLite (the embedded default) =="
	$(BIN)/pytest -q

test-postgres: setup
	@if $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2)" 2>/dev/null; then \
		echo "== test suite on PostgreSQL ($(TEST_POSTGRES_URL)) =="; \
		TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest -q; \
	else \
		echo "== PostgreSQL: no server answers on 127.0.0.1:5432, so the PostgreSQL run is skipped =="; \
	fi
