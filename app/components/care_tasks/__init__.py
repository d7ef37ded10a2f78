"""The pharmacist's task queue: tasks journeys create (follow-up calls, BP reviews …), each once."""

from app.components.care_tasks.tasks import NewTask, create_task, open_task_exists

__all__ = ["NewTask", "create_task", "open_task_exists"]
