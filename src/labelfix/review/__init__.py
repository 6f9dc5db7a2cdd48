"""The review page: a local web app over a run's store where a person accepts, relabels or removes flags."""

from labelfix.review.app import create_app

__all__ = ["create_app"]
