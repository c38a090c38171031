"""What Slack needs of the core: channels and hints that choose a repository, linked people, threads, deliveries."""
