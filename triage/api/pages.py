"""The team leads' review pages (server-rendered)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
