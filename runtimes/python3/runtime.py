"""The image's entry point: /opt/pratai/runtime.py starts the pratai_runtime package beside it.

Imported here, at start, while sys.path holds the runtime's folder and the standard library but
not yet the function's folder nor its dependencies: every module of the package is loaded
before a module of the function could be found in its place.
"""

from pratai_runtime.main import main

if __name__ == "__main__":
    main()
