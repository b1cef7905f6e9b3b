"""``python -m pcapline`` runs the command line, exactly as the ``pcapline`` script does."""

from pcapline.startup import main

if __name__ == "__main__":
    main()
