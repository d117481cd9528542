"""HTTP routes of desk.attachments."""

from fastapi import APIRouter

router = APIRouter()
