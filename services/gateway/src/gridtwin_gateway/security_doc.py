"""``python -m gridtwin_gateway.security_doc > docs/SECURITY.md``: the security document, printed from the
permission matrix and the route table (a test keeps the file equal to it)."""

from gridtwin_gateway.authz import security_markdown

if __name__ == "__main__":
    print(security_markdown(), end="")
