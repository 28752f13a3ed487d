pytest_plugins = ["tests.fix_stack"]
