"""`python -m workers`: run one worker process (see workers.main)."""

from workers.main import main

if __name__ == "__main__":
    main()
